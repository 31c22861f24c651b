#!/bin/sh
echo "dependency v1"
exit 42
