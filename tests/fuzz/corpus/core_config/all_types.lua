demo { b = false, i = 7, x = 0.25, e = "b", s = { "p", "q" }, t = { n = 3 }, l = { { name = "a" }, { name = "b", n = 2 } }, m = { k = "v" }, f = function() return 1 end }
many { name = "one" }
many { name = "two", n = 9 }
