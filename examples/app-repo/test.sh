#!/bin/sh
# The example app's tests (a real app runs its test suite here): the page it serves says hello.
set -eu
grep -q '^Hello from the example app\.$' hello.txt || {
  echo "hello.txt does not greet" >&2
  exit 1
}
echo "1 test passed"
