"""One game with a narrator: stepping the engine, queueing the prose it asks for, and handing
the prose back. The TUI, the scripted runner and the benches all play through here.
"""
