"""The one exception type for bad user input: the CLI prints it as one line and exits with code 2."""


class UserInputError(ValueError):
    """Input the user can fix (a path, a prompt, a flag); the message says what and how."""
