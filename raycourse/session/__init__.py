"""The Ray a notebook runs on: starting or joining it (runtime, cluster), its token (auth), loopback
addresses and ports, a room of learners sharing GPUs (room), progress bars and Ray's output in a notebook,
and Prometheus beside it."""
