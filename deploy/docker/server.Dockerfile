# The AutoBuilder server (API and dispatcher roles). Build from the repository root:
#   docker build -f deploy/docker/server.Dockerfile -t autobuilder/server .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/AutoBuilder.Cli/AutoBuilder.Cli.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
# A fixed non-root user: the Deployments run as 10001 (runAsNonRoot).
RUN groupadd --gid 10001 autobuilder && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin autobuilder
WORKDIR /app
COPY --from=build /app /app
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    HOME=/tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["dotnet", "/app/autobuilder.dll"]
CMD ["serve", "--urls", "http://0.0.0.0:8080", "--data", "/var/lib/autobuilder"]
