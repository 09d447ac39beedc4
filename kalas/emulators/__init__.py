"""Stand-ins for the outside services the product talks to, real enough to test and benchmark against."""
