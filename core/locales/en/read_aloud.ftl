# read_aloud
