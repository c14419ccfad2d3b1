halt
matmul src=-1 dst=0 n=1
