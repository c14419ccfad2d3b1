load target=sp dst=0 len=4 n_inner=1 addr=0 pop_prev
