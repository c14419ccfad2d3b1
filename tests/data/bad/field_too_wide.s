load target=sp dst=0 len=1024 n_inner=1 addr=0
halt
