# multiply
mul src=0 dst=0 n=1
