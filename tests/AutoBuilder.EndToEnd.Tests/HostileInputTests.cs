using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AutoBuilder.Core.Api;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>A server with small upload limits, so the limits can be reached in a test.</summary>
public sealed class HostileServerFixture : ServerFixture
{
    public const long MaxBytes = 2 * 1024 * 1024;
    public const int MaxEntries = 500;
    public const long MaxUncompressedBytes = 64 * 1024 * 1024;

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Uploads:MaxBytes"] = MaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Uploads:MaxEntries"] = MaxEntries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Uploads:MaxUncompressedBytes"] = MaxUncompressedBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["RateLimits:PermitsPerSecond"] = "1000",
        ["RateLimits:Burst"] = "1000",
    };
}

/// <summary>
/// The hostile corpus: each input gets its precise status and title, nothing lands outside its place
/// (the project's uploads and {data}/tmp), and the server is healthy afterwards.
/// </summary>
public sealed class HostileInputTests(HostileServerFixture fixture) : IClassFixture<HostileServerFixture>, IDisposable
{
    private const string Project = "hostile";
    private const string Unsafe = "Unsafe archive entry";
    private const string NotZip = "Not a ZIP archive";
    private const string TooLarge = "Body too large";
    private const string BadJson = "Malformed JSON";
    private const string BadType = "Unsupported content type";
    private const string BadId = "Invalid project id";
    private const int SymlinkMode = unchecked((int)0xA1FF0000); // S_IFLNK | 0777, in the high 16 bits
    private readonly string _scratch = TestPaths.NewTempDirectory("hostile");

    /// <summary>Case name → expected status and problem title (null: no problem body to check, or a success).</summary>
    private static readonly Dictionary<string, (HttpStatusCode Status, string? Title)> Expected = new()
    {
        ["zip-slip ../x"] = (HttpStatusCode.BadRequest, Unsafe),
        ["zip-slip a/../../x"] = (HttpStatusCode.BadRequest, Unsafe),
        ["zip-slip /abs"] = (HttpStatusCode.BadRequest, Unsafe),
        ["zip-slip C:\\x"] = (HttpStatusCode.BadRequest, Unsafe),
        ["zip-slip ..\\x"] = (HttpStatusCode.BadRequest, Unsafe),
        ["NUL in a name"] = (HttpStatusCode.BadRequest, Unsafe),
        ["RTL override in a name"] = (HttpStatusCode.BadRequest, Unsafe),
        ["NFC and NFD names"] = (HttpStatusCode.Created, null),
        ["duplicate entries"] = (HttpStatusCode.BadRequest, "Duplicate archive entry"),
        ["zip bomb: 200 MB of zeros"] = (HttpStatusCode.BadRequest, "Compression ratio too high"),
        ["over MaxUncompressedBytes at a modest ratio"] = (HttpStatusCode.BadRequest, "Archive too large when extracted"),
        ["too many entries"] = (HttpStatusCode.BadRequest, "Too many archive entries"),
        ["symlink escaping with .."] = (HttpStatusCode.BadRequest, "Unsafe symlink entry"),
        ["symlink to an absolute path"] = (HttpStatusCode.BadRequest, "Unsafe symlink entry"),
        ["symlink inside the project"] = (HttpStatusCode.Created, null),
        ["nested archive with a zip-slip inside"] = (HttpStatusCode.Created, null),
        ["truncated ZIP"] = (HttpStatusCode.BadRequest, NotZip),
        ["non-ZIP body"] = (HttpStatusCode.BadRequest, NotZip),
        ["empty body"] = (HttpStatusCode.BadRequest, "Empty body"),
        ["body over MaxBytes (Content-Length)"] = (HttpStatusCode.RequestEntityTooLarge, TooLarge),
        ["body over MaxBytes (chunked)"] = (HttpStatusCode.RequestEntityTooLarge, TooLarge),
        ["ZIP sent as text/plain"] = (HttpStatusCode.UnsupportedMediaType, BadType),
        ["ZIP build sent as text/plain"] = (HttpStatusCode.UnsupportedMediaType, BadType),
        ["huge header"] = (HttpStatusCode.RequestHeaderFieldsTooLarge, null), // Kestrel answers before the app: no body
        ["project id ..%2Fetc"] = (HttpStatusCode.NotFound, "Project not found"),
        ["project id with %00"] = (HttpStatusCode.BadRequest, null), // Kestrel refuses a NUL in the path before the app: no body
        ["project id upper-case"] = (HttpStatusCode.BadRequest, BadId),
        ["project id of 64 characters"] = (HttpStatusCode.BadRequest, BadId),
        ["build id ..%2F..%2Fadmin.key"] = (HttpStatusCode.NotFound, "Build not found"),
        ["JSON too deep"] = (HttpStatusCode.BadRequest, BadJson),
        ["JSON too large"] = (HttpStatusCode.RequestEntityTooLarge, TooLarge),
        ["malformed JSON"] = (HttpStatusCode.BadRequest, BadJson),
        ["JSON sent as application/zip"] = (HttpStatusCode.BadRequest, NotZip),
        ["JSON sent as text/plain"] = (HttpStatusCode.UnsupportedMediaType, BadType),
    };

    public static TheoryData<string> Cases => new(Expected.Keys);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (IOException)
        {
            // swept with the temp folder
        }
    }

    [Fact]
    public void Corpus_HasAtLeast25Inputs() => Assert.True(Expected.Count >= 25, $"{Expected.Count} cases");

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileInput_IsAnsweredPrecisely_NothingEscapes_ServerStaysHealthy(string name)
    {
        using var client = fixture.Server.CreateClient();
        await ApiCalls.CreateProjectAsync(client, Project);
        var uploads = Path.Combine(fixture.Server.BlobRoot, "uploads", Project);
        var before = Files(uploads);
        var outsideBefore = Files(fixture.Server.BlobRoot).Except(before).ToHashSet();
        var (status, title) = Expected[name];

        using var request = await RequestAsync(name);
        using var response = await client.SendAsync(request);

        if (title is not null)
        {
            await BadInputTests.AssertProblemAsync(response, status, title, name);
        }
        else
        {
            Assert.True(status == response.StatusCode, $"{name}: expected {status}, got {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        var after = Files(uploads);
        var added = after.Except(before).ToList();
        if (status == HttpStatusCode.Created)
        {
            // Stored as one opaque source.zip in its own folder, never extracted.
            var stored = Assert.Single(added);
            Assert.Equal("source.zip", Path.GetFileName(stored));
        }
        else
        {
            Assert.Empty(added);
        }

        var writtenElsewhere = Files(fixture.Server.BlobRoot).Except(after).Except(outsideBefore).ToList();
        Assert.Empty(writtenElsewhere);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(fixture.Server.DataDirectory, "tmp")));
        Assert.False(File.Exists(Path.Combine(fixture.Server.DataDirectory, "..", "escape.txt")));
        using var probe = new HttpClient { BaseAddress = fixture.Server.Url };
        Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync("readyz")).StatusCode);
    }

    private static HashSet<string> Files(string folder) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories).ToHashSet() : [];

    private async Task<HttpRequestMessage> RequestAsync(string name) => name switch
    {
        "zip-slip ../x" => Upload(ApiCalls.Zip(("../escape.txt", "x"u8.ToArray(), 0))),
        "zip-slip a/../../x" => Upload(ApiCalls.Zip(("a/../../escape.txt", "x"u8.ToArray(), 0))),
        "zip-slip /abs" => Upload(ApiCalls.Zip(("/tmp/escape.txt", "x"u8.ToArray(), 0))),
        "zip-slip C:\\x" => Upload(ApiCalls.Zip(("C:\\escape.txt", "x"u8.ToArray(), 0))),
        "zip-slip ..\\x" => Upload(ApiCalls.Zip(("..\\escape.txt", "x"u8.ToArray(), 0))),
        "NUL in a name" => Upload(ApiCalls.Zip(("build.sh\0.txt", "x"u8.ToArray(), 0))),
        "RTL override in a name" => Upload(ApiCalls.Zip(("evil\u202Etxt.sh", "x"u8.ToArray(), 0))),
        "NFC and NFD names" => Upload(ApiCalls.Zip(("caf\u00e9.txt", "nfc"u8.ToArray(), 0), ("cafe\u0301.txt", "nfd"u8.ToArray(), 0), ("\u65e5\u672c/\u0645\u0631\u062d\u0628\u0627.txt", "x"u8.ToArray(), 0))),
        "duplicate entries" => Upload(ApiCalls.Zip(("build.sh", "echo one"u8.ToArray(), 0), ("build.sh", "echo two"u8.ToArray(), 0))),
        "zip bomb: 200 MB of zeros" => Upload(await ZeroArchiveAsync(200, randomBytes: 0)),
        "over MaxUncompressedBytes at a modest ratio" => Upload(await ZeroArchiveAsync(100, randomBytes: 1_500_000)),
        "too many entries" => Upload(ApiCalls.Zip([.. Enumerable.Range(0, HostileServerFixture.MaxEntries + 1).Select(i => ($"f{i}.txt", Array.Empty<byte>(), 0))])),
        "symlink escaping with .." => Upload(ApiCalls.Zip(("src/link", "../../../etc/passwd"u8.ToArray(), SymlinkMode))),
        "symlink to an absolute path" => Upload(ApiCalls.Zip(("link", "/etc/passwd"u8.ToArray(), SymlinkMode))),
        "symlink inside the project" => Upload(ApiCalls.Zip(("src/a.txt", "a"u8.ToArray(), 0), ("link", "src/a.txt"u8.ToArray(), SymlinkMode))),
        "nested archive with a zip-slip inside" => Upload(ApiCalls.Zip(("inner.zip", ApiCalls.Zip(("../../escape.txt", "x"u8.ToArray(), 0)), 0))),
        "truncated ZIP" => Upload(ApiCalls.Zip(("build.sh", System.Security.Cryptography.RandomNumberGenerator.GetBytes(5000), 0))[..2000]),
        "non-ZIP body" => Upload("#!/bin/sh\nrm -rf /\n"u8.ToArray()),
        "empty body" => Upload([]),
        "body over MaxBytes (Content-Length)" => Upload(new byte[HostileServerFixture.MaxBytes + 1]),
        "body over MaxBytes (chunked)" => new HttpRequestMessage(HttpMethod.Post, ApiRoutes.Sources(Project)) { Content = new ChunkedContent(HostileServerFixture.MaxBytes + (1024 * 1024)) },
        "ZIP sent as text/plain" => Upload(ApiCalls.Zip(("build.sh", "true"u8.ToArray(), 0)), "text/plain"),
        "ZIP build sent as text/plain" => Upload(ApiCalls.Zip(("build.sh", "true"u8.ToArray(), 0)), "text/plain", ApiRoutes.ProjectBuilds(Project)),
        "huge header" => WithHeader(new HttpRequestMessage(HttpMethod.Get, ApiRoutes.Projects), "X-Huge", new string('h', 64 * 1024)),
        "project id ..%2Fetc" => new HttpRequestMessage(HttpMethod.Get, "api/v1/projects/..%2Fetc"),
        "project id with %00" => new HttpRequestMessage(HttpMethod.Put, "api/v1/projects/ab%00cd"),
        "project id upper-case" => new HttpRequestMessage(HttpMethod.Put, "api/v1/projects/Hostile"),
        "project id of 64 characters" => new HttpRequestMessage(HttpMethod.Put, "api/v1/projects/" + new string('a', 64)),
        "build id ..%2F..%2Fadmin.key" => new HttpRequestMessage(HttpMethod.Get, "api/v1/builds/..%2F..%2Fadmin.key"),
        "JSON too deep" => Json("{\"sourceId\":\"x\",\"extra\":" + new string('[', 200) + new string(']', 200) + "}"),
        "JSON too large" => Json("{\"sourceId\":\"" + new string('x', 70 * 1024) + "\"}"),
        "malformed JSON" => Json("{\"sourceId\": \"x\""),
        "JSON sent as application/zip" => Json("{\"sourceId\":\"0123456789abcdef0123456789abcdef\"}", "application/zip"),
        "JSON sent as text/plain" => Json("{\"sourceId\":\"0123456789abcdef0123456789abcdef\"}", "text/plain"),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    private static HttpRequestMessage Upload(byte[] body, string contentType = "application/zip", string? route = null) =>
        new(HttpMethod.Post, route ?? ApiRoutes.Sources(Project))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(contentType) } },
        };

    private static HttpRequestMessage Upload(string file) =>
        new(HttpMethod.Post, ApiRoutes.Sources(Project))
        {
            Content = new StreamContent(File.OpenRead(file)) { Headers = { ContentType = new MediaTypeHeaderValue("application/zip") } },
        };

    private static HttpRequestMessage Json(string json, string contentType = "application/json") =>
        new(HttpMethod.Post, ApiRoutes.ProjectBuilds(Project))
        {
            Content = new StringContent(json, Encoding.UTF8) { Headers = { ContentType = new MediaTypeHeaderValue(contentType) } },
        };

    private static HttpRequestMessage WithHeader(HttpRequestMessage request, string header, string value)
    {
        request.Headers.TryAddWithoutValidation(header, value);
        return request;
    }

    /// <summary>Megabytes of zeros (plus random, incompressible bytes), streamed into a ZIP on disk, never held in memory.</summary>
    private async Task<string> ZeroArchiveAsync(int megabytes, int randomBytes)
    {
        var path = Path.Combine(_scratch, $"zeros-{megabytes}-{randomBytes}.zip");
        await using (var file = File.Create(path))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            await using (var zeros = zip.CreateEntry("zeros.bin", CompressionLevel.SmallestSize).Open())
            {
                var chunk = new byte[1024 * 1024];
                for (var i = 0; i < megabytes; i++)
                {
                    await zeros.WriteAsync(chunk);
                }
            }

            if (randomBytes > 0)
            {
                await using var noise = zip.CreateEntry("noise.bin", CompressionLevel.NoCompression).Open();
                await noise.WriteAsync(System.Security.Cryptography.RandomNumberGenerator.GetBytes(randomBytes));
            }
        }

        Assert.True(new FileInfo(path).Length < HostileServerFixture.MaxBytes, "the archive itself must fit Uploads:MaxBytes");
        return path;
    }

    /// <summary>A body without Content-Length (chunked transfer encoding).</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly long _length;

        public ChunkedContent(long length)
        {
            _length = length;
            Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < _length; sent += chunk.Length)
            {
                await stream.WriteAsync(chunk);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
