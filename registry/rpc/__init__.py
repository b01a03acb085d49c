"""What the service and the client share about the wire: messages translated to and from
the domain, and check codes carried as rich status details."""
