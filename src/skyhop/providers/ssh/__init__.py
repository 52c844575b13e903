"""The `ssh` provider's parts: reaching machines the user already has, over OpenSSH."""
