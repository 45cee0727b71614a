"""Moomoo through the user's OpenD gateway (futu-api): `adapter.MoomooAdapter`, imported lazily by the registry."""
