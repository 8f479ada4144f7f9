"""Operations around a model service: the quality gate and the CI/CD pipeline (module 12)."""
