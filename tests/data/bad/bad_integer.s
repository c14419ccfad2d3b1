matmul src=zero dst=0 n=1
