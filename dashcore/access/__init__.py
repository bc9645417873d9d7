"""Who may do what: users, passwords, sign-in and permission checks."""
