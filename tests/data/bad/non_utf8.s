halt
ÿş garbage
