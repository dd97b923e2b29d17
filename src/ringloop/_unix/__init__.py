"""Unix integration: signals, add_reader/add_writer, pipes, subprocesses, fork safety."""
