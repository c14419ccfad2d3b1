matmul src=0 dst=0 n=1 rows=4
