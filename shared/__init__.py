"""The platform's common library: event contract, persistence, messaging and the HTTP shell.

Every service builds on these modules; none of them touches a database or a broker at
import time.
"""
