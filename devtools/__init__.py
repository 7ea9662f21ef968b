"""Development and test tools: the local Stripe stand-in and the dev stack behind
`make run` / `make test`. Nothing here is product code, nothing here imports the product,
and none of it ships in the production image."""
