demo { t = { t = { t = {} } } }
many { name = 1 }