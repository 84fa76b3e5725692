"""protsteer.networks"""
