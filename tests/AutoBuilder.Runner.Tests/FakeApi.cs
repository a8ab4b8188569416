using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Tests;

/// <summary>An in-memory API and blob store speaking the runner protocol, recording every call.</summary>
public sealed class FakeApi : HttpMessageHandler
{
    public const string Token = "build-token-0123456789abcdef";
    public const string BuildId = "0192f0c0c0c0c0c0c0c0c0c0c0c0c0c0";
    public static readonly Uri ApiUrl = new("http://api.test/");
    private static readonly Uri Storage = new("http://storage.test/");

    private readonly MemoryStream _log = new();

    public FakeApi(byte[] sourceZip, int timeoutSeconds = 600, int maxTimeoutSeconds = 3600)
    {
        SourceZip = sourceZip;
        Spec = new RunnerSpec
        {
            BuildId = BuildId,
            ProjectId = "demo",
            Number = 12,
            Attempt = 1,
            SourceUrl = new Uri(Storage, "source.zip?sig=abc"),
            LogAppendUrl = new Uri(Storage, "log?sig=abc"),
            TimeoutSeconds = timeoutSeconds,
            MaxTimeoutSeconds = maxTimeoutSeconds,
        };
    }

    public RunnerSpec Spec { get; set; }
    public byte[] SourceZip { get; }
    public List<BuildPhase> Phases { get; } = [];
    public List<UploadRequest> UploadRequests { get; } = [];
    public ConcurrentDictionary<string, byte[]> Blobs { get; } = new();
    public CompleteRequest? Completed { get; private set; }
    public List<(HttpMethod Method, Uri Uri, string? Authorization)> Calls { get; } = [];

    /// <summary>Answers a phase report with this status instead of 204 (e.g. 409 for a cancelled build).</summary>
    public Func<BuildPhase, int, HttpStatusCode?> PhaseAnswer { get; set; } = (_, _) => null;

    /// <summary>Log appends fail with this status when set (storage down).</summary>
    public HttpStatusCode? LogFailure { get; set; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return Encoding.UTF8.GetString(_log.ToArray());
            }
        }
    }

    public BuildManifest? Manifest => Blobs.TryGetValue("manifest", out var bytes)
        ? System.Text.Json.JsonSerializer.Deserialize<BuildManifest>(bytes, AutoBuilderJson.Options)
        : null;

    public static byte[] Zip(string directory)
    {
        using var temp = new TempDirectory();
        return File.ReadAllBytes(TestZip.FromDirectory(directory, temp.Combine("source.zip")));
    }

    public static byte[] Zip(params TestZip.Entry[] entries)
    {
        using var temp = new TempDirectory();
        return File.ReadAllBytes(TestZip.Create(temp.Combine("source.zip"), entries));
    }

    public static HashSet<string> EntriesOf(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip));
        return [.. archive.Entries.Select(e => e.FullName)];
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        lock (Calls)
        {
            Calls.Add((request.Method, uri, request.Headers.Authorization?.ToString()));
        }

        if (uri.Host == Storage.Host)
        {
            return await StorageAsync(request, uri, cancellationToken);
        }

        if (request.Headers.Authorization?.ToString() != $"Bearer {Token}")
        {
            return new HttpResponseMessage(HttpStatusCode.Unauthorized);
        }

        var path = uri.AbsolutePath.TrimStart('/');
        if (path == RunnerRoutes.Spec(BuildId))
        {
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(Spec, options: AutoBuilderJson.Options) };
        }

        if (path == RunnerRoutes.Phase(BuildId))
        {
            var report = (await request.Content!.ReadFromJsonAsync<PhaseReport>(AutoBuilderJson.Options, cancellationToken))!;
            int count;
            lock (Phases)
            {
                Phases.Add(report.Phase);
                count = Phases.Count(p => p == report.Phase);
            }

            return new HttpResponseMessage(PhaseAnswer(report.Phase, count) ?? HttpStatusCode.NoContent);
        }

        if (path == RunnerRoutes.Uploads(BuildId))
        {
            var upload = (await request.Content!.ReadFromJsonAsync<UploadRequest>(AutoBuilderJson.Options, cancellationToken))!;
            UploadRequests.Add(upload);
            var key = upload.Kind switch
            {
                UploadKind.Result => "result",
                UploadKind.Manifest => "manifest",
                _ => "artifacts/" + upload.Name,
            };
            var link = new SignedLink(new Uri(Storage, $"put/{key}?sig=abc"), DateTimeOffset.UnixEpoch.AddYears(100));
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(link, options: AutoBuilderJson.Options) };
        }

        if (path == RunnerRoutes.Complete(BuildId))
        {
            Completed = await request.Content!.ReadFromJsonAsync<CompleteRequest>(AutoBuilderJson.Options, cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.NoContent);
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    private async Task<HttpResponseMessage> StorageAsync(HttpRequestMessage request, Uri uri, CancellationToken cancellationToken)
    {
        if (request.Method == HttpMethod.Get && uri.AbsolutePath == "/source.zip")
        {
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(SourceZip) };
        }

        if (request.Method == HttpMethod.Post && uri.AbsolutePath == "/log")
        {
            if (LogFailure is { } failure)
            {
                return new HttpResponseMessage(failure);
            }

            var bytes = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            lock (_log)
            {
                _log.Write(bytes);
            }

            return new HttpResponseMessage(HttpStatusCode.Created);
        }

        if (request.Method == HttpMethod.Put && uri.AbsolutePath.StartsWith("/put/", StringComparison.Ordinal))
        {
            Blobs[uri.AbsolutePath["/put/".Length..]] = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.Created);
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    protected override void Dispose(bool disposing)
    {
        _log.Dispose();
        base.Dispose(disposing);
    }
}
