# Shortcuts for the two README commands.
.PHONY: demo test
demo:
	./bin/demo
test:
	./bin/test
