"""protsteer.tasks"""
