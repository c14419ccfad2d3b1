load target=sp dst=0 len=4 addr=0x100
