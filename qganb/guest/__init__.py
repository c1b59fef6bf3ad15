"""The guest over SSH: the connection, what is true on the guest (facts), the agent's configuration
there, and the install transaction that runs on it."""
