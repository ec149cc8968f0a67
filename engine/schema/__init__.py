"""What a family profile and a request's moment are, validated at the boundary (pydantic)."""
