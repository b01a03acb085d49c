"""A witness: an independent follower of the log that keeps its own verified copy, cosigns
each signed checkpoint it found consistent with the last one it cosigned, and reports a
split history with both signed checkpoints (registry/transparency/witnessing.py holds what
it publishes). It reads the log as any partner could and writes only its own log and its
own state database; it never reaches into the write side."""
