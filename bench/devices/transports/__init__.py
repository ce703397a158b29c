"""How the harness reaches a device: run a command, copy a file (local, ssh, adb)."""
