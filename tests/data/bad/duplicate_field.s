matmul src=0 dst=0 n=1 n=2
