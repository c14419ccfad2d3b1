halt wait
