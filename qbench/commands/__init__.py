"""The handlers of ``qbench``'s subcommands that are more than parsing and printing a result: each
takes the parsed arguments and returns the exit status (bad input: a QbenchError, status 2)."""
