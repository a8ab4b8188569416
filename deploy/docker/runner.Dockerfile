# The build runner: one build per Job (`autobuilder runner ...`, args from the Job), with JDK 17, Maven and Gradle.
# The pod is the sandbox (non-root, no capabilities, read-only root; /workspace, /cache and /tmp are volumes).
#   docker build -f deploy/docker/runner.Dockerfile -t autobuilder/runner .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
# Self-contained: the runner image carries no .NET install of its own.
RUN dotnet publish src/AutoBuilder.Cli/AutoBuilder.Cli.csproj -c Release -r linux-x64 --self-contained -o /app

FROM maven:3.9-eclipse-temurin-17 AS maven
FROM gradle:8.10-jdk17 AS gradle

FROM eclipse-temurin:17-jdk
COPY --from=maven /usr/share/maven /opt/maven
COPY --from=gradle /opt/gradle /opt/gradle
RUN ln -s /opt/maven/bin/mvn /usr/local/bin/mvn \
 && ln -s /opt/gradle/bin/gradle /usr/local/bin/gradle \
 && groupadd --gid 10001 autobuilder && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin autobuilder
COPY --from=build /app /app
ENV MAVEN_HOME=/opt/maven \
    GRADLE_HOME=/opt/gradle \
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["/app/autobuilder"]
