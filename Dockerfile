# letterbox as one static binary in an empty image. docker build -t letterbox .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /letterbox ./cmd/letterbox

FROM scratch
COPY --from=build /letterbox /letterbox
# SQLite (when --db is not a postgres:// URL) keeps its file here; mount a volume on it.
ENV XDG_DATA_HOME=/data
USER 65534:65534
EXPOSE 1025 8025 1110 1143
ENTRYPOINT ["/letterbox"]
