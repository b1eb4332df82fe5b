module moscow-time-reference

go 1.19
