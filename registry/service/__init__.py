"""gRPC entry points: servicers that translate between protobuf and the application."""
