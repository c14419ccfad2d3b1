load target=dram dst=0 len=4 n_inner=1 addr=0
