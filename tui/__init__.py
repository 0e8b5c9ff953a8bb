"""The technician's Textual TUI: renders state, sends commands, never touches disks."""
