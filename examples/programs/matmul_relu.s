# Y = ReLU(requant(X @ W + b)) for a 4x4 tile on the `tiny` preset (4x4 array).
# Memory image: X int8[4][4] at 0x00, W int8[4][4] at 0x10, then three int32[4] rows:
# bias at 0x20, requant multipliers at 0x30, shifts at 0x40. Y int8[4][4] goes to 0x100.
load      target=sp  elem=i8  dst=0 len=4 n_inner=4 addr=0x00 stride_inner=4   # X -> sp 0..3
load      target=sp  elem=i8  dst=4 len=4 n_inner=4 addr=0x10 stride_inner=4   # W -> sp 4..7
load      target=acc elem=i32 dst=8 len=4 n_inner=3 addr=0x20 stride_inner=16 push_next
preload   src=4 rows=4 cols=4 pop_prev                   # waits for the loads
matmul    src=0 dst=0 n=4 mode=bias bias=8 swap=1 push_next
cfg_quant mult_row=9 shift_row=10 pop_prev               # waits for the matmul (and the load)
cfg_act   mode=clamp lo=0 hi=127                         # ReLU
store     target=dram src=0 len=4 n_inner=4 addr=0x100 stride_inner=4
halt
