using System.Diagnostics;
using System.Text;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;
using AutoBuilder.Runner.Tooling;

namespace AutoBuilder.Runner.Tests.Tooling;

/// <summary>Real offline builds of samples/ through ToolchainResolver and BuildProcess, as the runner does them.</summary>
public sealed class SampleBuildTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    // Offline here means a mirror of everything to file:///usr/share/maven-repo. Maven's -o cannot be
    // used with it: in offline mode Maven refuses to read even a file:// repository into an empty cache.
    private static ToolchainSettings OfflineMaven => new()
    {
        MavenSettingsFile = Path.Combine(Path.GetDirectoryName(Samples.Directory("maven-hello"))!, "maven-settings-offline.xml"),
    };

    [Fact]
    public async Task Build_MavenSampleOffline_ProducesARunnableJar()
    {
        var jar = await BuildSampleAsync("maven-hello", OfflineMaven);

        Assert.Equal("target/maven-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.True(Directory.Exists(_temp.Combine("cache", "maven", "repository", "junit", "junit")), "the local repository lives in the cache");
    }

    [Fact]
    public async Task Build_MavenSampleWithCustomCommand_GetsSettingsAndCacheThroughHomeAndMavenOpts()
    {
        // No -s, no -Dmaven.repo.local: only ~/.m2/settings.xml and MAVEN_OPTS can make this work offline.
        var jar = await BuildSampleAsync("maven-hello", OfflineMaven, "mvn -B -q package");

        Assert.Equal("target/maven-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.True(Directory.Exists(_temp.Combine("cache", "maven", "repository", "junit", "junit")), "MAVEN_OPTS points the local repository at the cache");
        Assert.False(Directory.Exists(_temp.Combine("home", ".m2", "repository")));
    }

    [Fact]
    public async Task Build_GradleSampleOffline_ProducesARunnableJar()
    {
        var jar = await BuildSampleAsync("gradle-hello", new ToolchainSettings());

        Assert.Equal("build/libs/gradle-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.True(Directory.Exists(_temp.Combine("cache", "gradle")), "GRADLE_USER_HOME lives in the cache");
    }

    [Fact]
    public async Task Build_GradleWithTheOperatorsMirror_ResolvesMavenCentralDependenciesThroughTheMirrorWithItsCredentials()
    {
        await using var mirror = await MavenMirror.StartAsync("builder", "mirror-pass-123");
        var settings = new ToolchainSettings { GradleMirrorUrl = mirror.Url, GradleMirrorUsername = "builder", GradleMirrorPassword = "mirror-pass-123" };

        // The sample with a dependency from Maven Central, which this machine cannot reach: only the mirror has it.
        var jar = await BuildSampleAsync("gradle-hello", settings, prepare: source => File.AppendAllText(Path.Combine(source, "build.gradle"),
            "\nrepositories { mavenCentral() }\ndependencies { compile 'dev.autobuilder.test:greeting:1.0' }\n"));

        Assert.Equal("build/libs/gradle-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.Contains("GET /maven/dev/autobuilder/test/greeting/1.0/greeting-1.0.pom builder", mirror.Requests);
        Assert.Contains("GET /maven/dev/autobuilder/test/greeting/1.0/greeting-1.0.jar builder", mirror.Requests);
        Assert.True(Directory.Exists(_temp.Combine("cache", "gradle", "caches")), "the dependency cache stays in GRADLE_USER_HOME");
        Assert.DoesNotContain(Directory.EnumerateFiles(_temp.Combine("cache"), "*", SearchOption.AllDirectories),
            f => File.ReadAllText(f).Contains("mirror-pass-123", StringComparison.Ordinal));
    }

    private async Task<string> BuildSampleAsync(string sample, ToolchainSettings settings, string? command = null, Action<string>? prepare = null)
    {
        var source = _temp.Combine("src");
        Samples.CopyTo(sample, source);
        prepare?.Invoke(source);
        var home = _temp.Combine("home");
        var tmp = _temp.Combine("tmp");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(tmp);

        var toolchain = ToolchainResolver.Resolve(new ToolchainRequest(source, BuildConfigLoader.LoadFrom(source), null, command, settings, _temp.Combine("cache"), home));
        foreach (var (relative, content) in toolchain.HomeFiles)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(home, relative))!);
            await File.WriteAllTextAsync(Path.Combine(home, relative), content);
        }

        var output = new StringBuilder();
        var result = await new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = toolchain.Command,
                WorkingDirectory = source,
                Environment = BuildEnvironment.Create(new BuildEnvironmentRequest(home, tmp, 1, "samples", toolchain.Environment, null)),
                Timeout = TimeSpan.FromMinutes(10),
            },
            (bytes, _) =>
            {
                output.Append(Encoding.UTF8.GetString(bytes.Span));
                return ValueTask.CompletedTask;
            });

        Assert.True(result.ExitCode == 0, $"{toolchain.Command} failed ({result.ExitCode}):\n{output}");
        var jar = Assert.Single(OutputMatcher.Match(source, toolchain.Artifacts));
        Assert.Equal($"Hello from {sample}", await RunJarAsync(Path.Combine(source, jar)));
        return jar;
    }

    private static async Task<string> RunJarAsync(string jar)
    {
        var start = new ProcessStartInfo("java") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-jar");
        start.ArgumentList.Add(jar);
        using var java = Process.Start(start)!;
        var stdout = await java.StandardOutput.ReadToEndAsync();
        await java.WaitForExitAsync();
        Assert.Equal(0, java.ExitCode);
        return stdout.Trim();
    }

    /// <summary>A Maven repository on loopback that holds one artifact and answers only with Basic credentials; it records each request.</summary>
    private sealed class MavenMirror : IAsyncDisposable
    {
        private readonly System.Net.HttpListener _listener = new();
        private readonly string _credentials;
        private readonly Task _serving;
        private readonly byte[] _jar;

        private MavenMirror(int port, string user, string password)
        {
            _credentials = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
            Url = $"http://127.0.0.1:{port}/maven/";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            using (var jar = new MemoryStream())
            {
                using (var archive = new System.IO.Compression.ZipArchive(jar, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
                {
                    using var writer = new StreamWriter(archive.CreateEntry("META-INF/MANIFEST.MF").Open());
                    writer.Write("Manifest-Version: 1.0\n");
                }

                _jar = jar.ToArray();
            }

            _serving = ServeAsync();
        }

        public string Url { get; }

        public List<string> Requests { get; } = [];

        public static Task<MavenMirror> StartAsync(string user, string password)
        {
            var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            probe.Start();
            var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            return Task.FromResult(new MavenMirror(port, user, password));
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                System.Net.HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                var path = context.Request.Url!.AbsolutePath;
                var authorized = context.Request.Headers["Authorization"] == $"Basic {_credentials}";
                lock (Requests)
                {
                    Requests.Add($"{context.Request.HttpMethod} {path} {(authorized ? "builder" : "anonymous")}");
                }

                byte[]? body = path switch
                {
                    "/maven/dev/autobuilder/test/greeting/1.0/greeting-1.0.pom" => Encoding.UTF8.GetBytes(
                        "<project><modelVersion>4.0.0</modelVersion><groupId>dev.autobuilder.test</groupId><artifactId>greeting</artifactId><version>1.0</version></project>"),
                    "/maven/dev/autobuilder/test/greeting/1.0/greeting-1.0.jar" => _jar,
                    _ => null,
                };
                var response = context.Response;
                if (!authorized)
                {
                    response.StatusCode = 401;
                    response.AddHeader("WWW-Authenticate", "Basic realm=\"mirror\"");
                }
                else if (body is null)
                {
                    response.StatusCode = 404;
                }
                else if (context.Request.HttpMethod == "GET")
                {
                    response.ContentLength64 = body.Length;
                    await response.OutputStream.WriteAsync(body);
                }

                response.Close();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _serving;
        }
    }
}
