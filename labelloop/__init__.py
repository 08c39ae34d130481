"""The `labelloop` command (`labelloop.cli`): the one module that may import every part
of the house (the stack, the demo, the receiver, the registry), since it sits above them."""
