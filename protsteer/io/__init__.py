"""protsteer.io"""
