//! Redis Cluster: a master killed, its replica promoted.
