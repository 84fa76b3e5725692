"""protsteer.voxel"""
