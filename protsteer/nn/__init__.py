"""protsteer.nn"""
