"""Helpers shared by the test modules, which import from here (and from the top-level `fixtures`
package), never from each other: a fresh configuration (config), polling until a condition holds
(polling), a sample catalog in Kafka (catalog), checkout's state by replay (replay), the app called
in process (asgi), the fault tests' shoppers and checks (faults) and a TCP proxy (tcp_proxy)."""
