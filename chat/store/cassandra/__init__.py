"""Everything that speaks CQL: the Cassandra session of the process, the schema migrations and
(with the message storage) the message store. Nothing outside this package imports `cassandra`."""
