"""protsteer.structure"""
